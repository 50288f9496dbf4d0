"""Open FPGA flow: Yosys synthesis, nextpnr place and route, and their reports."""
