"""Work moto repeats on every request, done once or done faster.

Under ``pipeline serve``'s load these were a fifth of the engine's time, spent on nothing a run
needs twice:

- ``camelcase_to_underscores`` turns the same few action and parameter names into method names
  on every request (character by character); it is a pure function, so its results are kept.
  moto's modules bind it by name, so each module holding it gets the cached version.
- ``MotoRandom.get_random_string`` builds every request id one ``choice`` at a time; here it
  draws them with one ``choices`` call, from the same pool and moto's own (seedable) generator,
  so ids keep their alphabet and length and stay reproducible under ``mock_random.seed``.
- ``UpdateExpressionParser.make`` tokenizes and parses an ``UpdateItem``'s expression twice per
  request (the ledger's are the same few strings); its callers only read the tree it returns (the
  validator works on a deep copy), so one tree per expression is kept. The validator's deep copy
  of a kept tree is made from the tree's pickle, about four times faster than ``copy.deepcopy``
  (a tree too deep to pickle keeps none, and is copied by ``copy.deepcopy``, which fails as in
  moto).
- ``DepthFirstTraverser.traverse`` (each of the validator's ten passes over an expression's tree)
  rebuilt the pass's table of node types at every node; here it is built once per pass, and the
  nodes are visited in the same order with the same hooks. The two ledger updates of a run were
  a fifth of the engine's time under load, most of it in these passes.
- ``BaseResponse.call_action`` lists the method names of its response class on every request
  (``inspect.getmembers``, which sorts every attribute of the class) to see whether the action is
  one of them: 1.3 % of the engine's time under load. The names are the class's; they are kept
  per class. (The engine's own patches of response classes replace methods, keeping their names.)
- The first of those passes, ``ActionCountValidator`` (at most one clause of each kind), reads the
  tree and nothing else, and a quarter of an update's time went to it (it searches each nested
  expression's clauses again). A kept tree that passed it once passes it again: its copies skip
  it while no other pass has touched them. A tree that fails it fails on every update, as in moto.

The reductions are installed when the first environment enters and removed when the last one
leaves, so environments may overlap in any order. Each is guarded by a test in
``tests/workflow/test_moto_reliances.py``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import pickle
import string
import sys
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from moto.core import responses as moto_responses
from moto.core import utils as moto_utils
from moto.dynamodb.parsing import ast_nodes, validators
from moto.dynamodb.parsing import expressions as update_expressions
from moto.moto_api._internal.moto_random import MotoRandom

from workflow.local.held import Held

# (moto's parsing modules are untyped to mypy: "# type: ignore" at their tops)
_CLAUSE_COUNT: Any = vars(validators)["ActionCountValidator"]

# The pickle of each kept tree (the trees live in the parse cache).
_PICKLES: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
# The kept tree of each copy made from a pickle, until a pass other than the clause count visits it.
_ORIGINS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
# The kept trees that passed the clause count.
_COUNTED: weakref.WeakSet[Any] = weakref.WeakSet()


def _random_string(self: MotoRandom, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
    pool = string.ascii_letters + (string.digits if include_digits else "")
    drawn = "".join(self.choices(pool, k=length))
    return drawn.lower() if lower_case else drawn


def _keeping_pickle(make: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(expression: str) -> Any:
        tree = make(expression)
        # Deeper than the pickler recurses (an expression of about 200 actions): no pickle, and
        # the validator's copy fails in copy.deepcopy as it does in moto.
        with contextlib.suppress(RecursionError):
            _PICKLES[tree] = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
        return tree

    return functools.lru_cache(maxsize=1024)(parse)


def _deepcopy(node: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy``, from the pickle for a kept tree."""
    blob = _PICKLES.get(node) if memo is None else None
    if blob is None:
        return copy.deepcopy(node, memo)
    copied = pickle.loads(blob)  # noqa: S301 - our own pickle
    _ORIGINS[copied] = node
    return copied


def _traverse(self: Any, node: Any) -> Any:
    """One validator pass; the clause count of a kept tree's untouched copy is done once."""
    if type(self) is not _CLAUSE_COUNT:
        _ORIGINS.pop(node, None)
        return _visit_all(self, node)
    origin = _ORIGINS.get(node)
    if origin is not None and origin in _COUNTED:
        return node
    counted = _visit_all(self, node)
    if origin is not None:
        _COUNTED.add(origin)
    return counted


def _visit_all(self: Any, node: Any) -> Any:
    """``DepthFirstTraverser.traverse_node_recursively`` from the root, its node types read once."""
    types = self.nodes_to_be_processed()
    before_child = self.pre_processing_of_child
    process = self.process
    node_class = vars(ast_nodes)["Node"]
    # moto's node classes are abstract: each isinstance goes through ABCMeta (a sixth of a pass's
    # time). Its answers depend on the node's class alone, so each class is asked once a pass.
    is_node: dict[type, bool] = {}
    is_processed: dict[type, bool] = {}

    def visit(node: Any, child_id: int) -> Any:
        kind = type(node)
        if kind not in is_node:
            is_node[kind] = isinstance(node, node_class)
        if is_node[kind]:
            parent_node = node.parent
            if node.children is not None:
                for index, child_node in enumerate(node.children):
                    before_child(node, index)
                    visit(child_node, index)
            if kind not in is_processed:
                is_processed[kind] = isinstance(node, types)
            if is_processed[kind]:
                node = process(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    return visit(node, -1)


def _install() -> Callable[[], None]:
    """Install every reduction; return what puts the originals back."""
    original_convert = vars(moto_utils)["camelcase_to_underscores"]
    cached = functools.lru_cache(maxsize=8192)(original_convert)
    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto") and getattr(module, "camelcase_to_underscores", None) is original_convert
    ]
    original_random: Any = MotoRandom.get_random_string
    # (moto's parsing modules are untyped to mypy: "# type: ignore" at their tops)
    parser: Any = vars(update_expressions)["UpdateExpressionParser"]
    original_make = vars(parser)["make"]
    traverser: Any = vars(ast_nodes)["DepthFirstTraverser"]
    original_traverse = vars(traverser)["traverse"]
    original_deepcopy = vars(validators)["deepcopy"]
    original_method_names = vars(moto_responses)["method_names_from_class"]

    for module in holders:
        module.camelcase_to_underscores = cached  # type: ignore[attr-defined]
    MotoRandom.get_random_string = _random_string  # type: ignore[method-assign]
    parser.make = staticmethod(_keeping_pickle(original_make.__get__(None, parser)))
    traverser.traverse = _traverse
    vars(validators)["deepcopy"] = _deepcopy
    vars(moto_responses)["method_names_from_class"] = functools.lru_cache(maxsize=1024)(original_method_names)

    def restore() -> None:
        for module in holders:
            module.camelcase_to_underscores = original_convert  # type: ignore[attr-defined]
        MotoRandom.get_random_string = original_random  # type: ignore[method-assign]
        parser.make = original_make
        traverser.traverse = original_traverse
        vars(validators)["deepcopy"] = original_deepcopy
        vars(moto_responses)["method_names_from_class"] = original_method_names

    return restore


_INSTALLATION = Held(_install)


def reduced() -> AbstractContextManager[None]:
    """moto's per-request overhead reduced until the block ends (and every other such block)."""
    return _INSTALLATION.held()
