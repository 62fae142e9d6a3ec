"""Small data that finsent writes itself and ships: dictionary, grammar, demo stream."""
