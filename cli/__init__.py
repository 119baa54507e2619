"""The ``rise`` command line."""
