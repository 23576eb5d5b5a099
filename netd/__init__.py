"""netd package of the Pi cluster appliance."""
