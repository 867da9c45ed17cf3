"""Reading inputs and writing outputs: one module per format family, all streaming, all atomic."""
