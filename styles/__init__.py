"""Stylesheets packaged with the console."""
