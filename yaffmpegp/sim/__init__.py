"""A fleet on a virtual clock: simulated hosts (a Transport) under the real WorkQueue and
HostPipeline, to see how the scheduler behaves with hundreds of hosts in seconds of CPU."""
