"""Cohort assignment: a group of people placed in venues under capacities and seats."""
