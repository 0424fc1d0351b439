"""creditflow stacking: Progress toward stackable qualifications."""
