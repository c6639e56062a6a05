"""Distributed MADDPG on Ray (paper 000, sec. IV, Fig. 5): one collector and two asynchronous learners.

Modules: :mod:`.ray_runtime` (start a local Ray or join a cluster), :mod:`.config` (hyperparameters),
:mod:`.actors` (parameter holder, replay, collectors, learners), :mod:`.driver` (the Algorithm the
runner trains, registered as ``maddpg-distributed``). Ray is imported only when a run starts.
"""
