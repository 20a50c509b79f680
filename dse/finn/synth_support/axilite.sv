// dse stand-in for finn-plus 1.6.1 finn-rtllib/axi/hdl/axilite.sv (same module name, parameters
// and ports), used only for open synthesis (dse/finn/synth.py).
//
// Why: FINN leaves the AXI-lite port of a weight/threshold memory unconnected unless the weights
// are runtime-writeable; Vivado then ties it off, removes the adapter and keeps the memory as a
// ROM initialized from memblock.dat. Yosys reads no initial blocks here (--ignore-initial), so
// the memory must keep a write port or it would be optimized away. This stand-in gives it one
// at almost no cost: the write strobe/address come straight from the AXI write channel, the
// write data is the 32-bit word repeated (identical register bits merge), and there is no
// read-back. The memory itself (depth, width, RAM_STYLE) is FINN's.
module axilite #(
	int unsigned  ADDR_WIDTH,
	int unsigned  DATA_WIDTH,
	int unsigned  IP_DATA_WIDTH,

	localparam int unsigned  BSEL_BITS = $clog2(DATA_WIDTH/8),
	localparam int unsigned  FOLD      = 1 + (IP_DATA_WIDTH-1)/DATA_WIDTH,
	localparam int unsigned  WSEL_BITS = $clog2(FOLD),
	localparam int unsigned  IP_ADDR_WIDTH0 = ADDR_WIDTH - WSEL_BITS - BSEL_BITS,
	localparam int unsigned  IP_ADDR_WIDTH = IP_ADDR_WIDTH0? IP_ADDR_WIDTH0 : 1
)(
	input	logic  aclk,
	input	logic  aresetn,

	output	logic  awready,
	input	logic  awvalid,
	input	logic [2:0]  awprot,
	input	logic [ADDR_WIDTH-1:0]  awaddr,

	output	logic  wready,
	input	logic  wvalid,
	input	logic [DATA_WIDTH/8-1:0]  wstrb,
	input	logic [DATA_WIDTH  -1:0]  wdata,

	input	logic  bready,
	output	logic  bvalid,
	output	logic [1:0]  bresp,

	output	logic  arready,
	input	logic  arvalid,
	input	logic [2:0]  arprot,
	input	logic [ADDR_WIDTH-1:0]  araddr,

	input	logic  rready,
	output	logic  rvalid,
	output	logic [1:0]  rresp,
	output	logic [DATA_WIDTH-1:0]  rdata,

	output	logic  ip_en,
	output	logic  ip_wen,
	output	logic [IP_ADDR_WIDTH-1:0]  ip_addr,
	output	logic [IP_DATA_WIDTH-1:0]  ip_wdata,
	input	logic  ip_rack,
	input	logic [IP_DATA_WIDTH-1:0]  ip_rdata
);
	uwire [FOLD*DATA_WIDTH-1:0]  wdata_rep = {FOLD{wdata}};

	assign	awready = 1;
	assign	wready  = 1;
	assign	bvalid  = 0;
	assign	bresp   = '0;
	assign	arready = 1;
	assign	rvalid  = 0;
	assign	rresp   = '0;
	assign	rdata   = '0;

	assign	ip_en    = awvalid && wvalid;
	assign	ip_wen   = 1;
	assign	ip_addr  = awaddr[ADDR_WIDTH-1 -: IP_ADDR_WIDTH];
	assign	ip_wdata = wdata_rep[IP_DATA_WIDTH-1:0];
endmodule : axilite
