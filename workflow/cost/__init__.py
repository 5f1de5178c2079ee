"""The monthly cost model, split by job: ``prices`` (what AWS charges), ``usage`` (what one run used),
``measure`` (measuring it on the embedded environment, the only module here that imports it),
``estimate`` (pricing the template, pure), ``report`` (the priced lines, as text or JSON) and ``scale``
(one run of a given file size: its path, its steps' times, its wall time on AWS and what the size costs, pure)."""
