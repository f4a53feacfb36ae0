"""Exercise checkers, one module per lesson (lessonNN.py); importing this package registers them all.

Layer: exercises.
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if _module.name.startswith("lesson"):
        importlib.import_module(f"{__name__}.{_module.name}")
