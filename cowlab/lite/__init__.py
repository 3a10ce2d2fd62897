"""The static JupyterLite site of the course (`make lite`) and its check page."""
