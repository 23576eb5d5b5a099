"""lab package of the Pi cluster appliance."""
