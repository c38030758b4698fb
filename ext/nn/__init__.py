"""Neural-network layers and the YAML model builder of `ext`."""
