"""The consumer loop's contract cases and the in-memory broker they also run on."""
