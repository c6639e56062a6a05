"""The DQN family of paper 004: IDQN, IDQN with one shared buffer, PS-DQN and Large Batch Sharing."""
