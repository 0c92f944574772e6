"""HTTP routes, one module per audience: clients (predict), operators (ops), admins (admin)."""
