"""Every way users reach the engine: the command line, the HTTP service and batch sweeps."""
