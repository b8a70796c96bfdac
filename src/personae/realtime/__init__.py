"""Real time: the durable event journal that tracking calls are acknowledged from."""
