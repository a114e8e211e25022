"""Web console (later) and the `yijian` command line."""
