"""JAX twins of numgrad: one module per numgrad module, the same public names and signatures.

Importing this package turns on 64-bit floats in JAX, so float64 twins compare at float64.
"""

import jax

jax.config.update("jax_enable_x64", True)
