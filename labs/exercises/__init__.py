"""Exercise checkers, one module per lesson; importing this package registers them all."""
from . import lesson00, lesson01  # noqa: F401
