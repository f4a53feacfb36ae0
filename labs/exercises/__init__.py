"""Exercise checkers, one module per lesson; importing this package registers them all."""
from . import lesson00  # noqa: F401
