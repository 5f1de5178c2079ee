"""The monthly cost model, split by job: ``prices`` (what AWS charges), ``usage`` (what one run used),
``measure`` (measuring it on the embedded environment, the only module here that imports it),
``estimate`` (pricing the template, pure) and ``report`` (the priced lines, as text or JSON)."""
