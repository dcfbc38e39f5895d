"""neuropc's tests. A regular package (not a namespace one) because lava-nc installs a
top-level ``tests`` package into site-packages, which would otherwise shadow this one."""
