"""Pure algorithms: math on tensors and arrays, no Ray, no I/O."""
