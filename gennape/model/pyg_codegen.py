"""PyTorch Geometric's generated code, kept in memory instead of the temp folder.

PyG specialises ``MessagePassing.propagate`` (and ``Sequential.forward``) per layer class by
rendering a jinja template into Python source. Its ``torch_geometric.template.module_from_template``
writes that source to ``<temp folder>/torch_geometric...GraphConv_propagate_XXXX.py`` with
``delete=False`` and never removes it (PyG offers no setting for where or whether), so every
process that builds a GNN layer left one file behind. :func:`install` replaces it with
:func:`module_from_template`, which compiles the same source in memory: no file is written at
all, so nothing can be left behind, not even by a process killed with kill -9. The source is
registered with ``linecache`` under a ``<pyg-codegen NAME>`` name, so tracebacks and
``inspect.getsource`` still show it. PyG falls back to its plain ``propagate`` if generation fails.
"""

from __future__ import annotations

import linecache
import os
import sys
import types
from typing import Any


def module_from_template(module_name: str, template_path: str, tmp_dirname: str, **kwargs: Any) -> types.ModuleType:
    """``torch_geometric.template.module_from_template`` without a file: the template rendered
    with ``kwargs`` and run as module ``module_name`` (kept in ``sys.modules``, as PyG does).
    ``tmp_dirname`` is accepted for PyG's signature and unused."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    from jinja2 import Environment, FileSystemLoader

    env = Environment(loader=FileSystemLoader(os.path.dirname(template_path)))
    source = env.get_template(os.path.basename(template_path)).render(**kwargs)
    filename = f"<pyg-codegen {module_name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # mtime None: kept
    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - PyG's own template
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def install() -> None:
    """Make PyG generate its code in memory (idempotent); where PyG's modules bind the function."""
    import torch_geometric.nn.conv.message_passing as message_passing
    import torch_geometric.nn.sequential as sequential
    import torch_geometric.template as template

    for mod in (template, message_passing, sequential):
        if hasattr(mod, "module_from_template"):
            mod.module_from_template = module_from_template
