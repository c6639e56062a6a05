"""Environments: a registry of PettingZoo ParallelEnv factories (see :mod:`marlbench.envs.registry`)."""

from marlbench.envs.registry import EnvSpec, all_specs, get_spec, register

__all__ = ["EnvSpec", "all_specs", "get_spec", "register"]
