"""marlbench: benchmarking for multi-agent reinforcement learning."""

__version__ = "0.1.0"

from marlbench.paths import keep_torch_cache_here as _keep_torch_cache_here

_keep_torch_cache_here()  # nothing in $TMPDIR: torch's compile cache goes to the marlbench cache
