"""Feature builders: turn raw rows into the network's numeric inputs (fitted on training rows)."""
