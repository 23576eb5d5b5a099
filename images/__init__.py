"""images package of the Pi cluster appliance."""
