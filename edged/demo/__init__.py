"""The simulated complex behind `edged demo`."""
