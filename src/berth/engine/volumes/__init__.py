"""Volumes: named and anonymous directories that outlive the containers mounting them."""
