"""CTEDD: centralized training and exploration with decentralized execution via policy distillation.

Paper 001 (Chen 2019), sections 3-5 and Algorithm 1. Two stages, run together here:

1. **Centralized training and exploration** (section 4.1). The global policy of agent ``i`` is
   ``pi~_i(s) = pi_theta_i(s) + eps * sigma_omega_i(s)`` with ``eps ~ N(0, I)``; both parts are the
   symmetric network of Fig. 1 (:class:`~.networks.GlobalTower`). One centralized ``Q(s, a_1..a_N)``
   learns the team reward by eq. (2) with target networks; the deterministic part follows eq. (4),
   the stochastic part eq. (5) with an entropy weight annealed 0.1 -> 0.001 (:mod:`.losses`).
2. **Policy distillation** (section 4.2, eq. 6; :mod:`.distill`) into the local policies of Fig. 2
   (:class:`~.networks.LocalPolicy`), one per entry of ``comm_dims`` (CTEDD-L-1 and CTEDD-L-3).

The modules read in order: :mod:`.config` (hyperparameters and the choices where the paper is
vague), :mod:`.networks`, :mod:`.losses` (pure functions), :mod:`.distill`, :mod:`.acting` (numpy
acting and the tests of every variant) and :mod:`.learner` (the :class:`~.learner.CTEDD` class).
"""
