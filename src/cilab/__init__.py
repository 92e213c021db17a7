"""cilab: the ETH Computational Intelligence Lab's exercises as fast, tested software.

Importing cilab has no side effects: no threads, no logging handlers, no data access.
"""

__version__ = "0.1.0"
