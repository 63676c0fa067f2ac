package modbus

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/edgegw/edgegw/gateway"
)

// Modbus tables (the four data kinds of the Modbus data model).
const (
	TableHolding  = "holding"  // holding registers, FC3 read, FC6/16 write
	TableInput    = "input"    // input registers, FC4
	TableCoil     = "coil"     // coils, FC1 read, FC5/15 write
	TableDiscrete = "discrete" // discrete inputs, FC2
)

// Register formats: how the 16-bit words of a Modbus point encode its value.
const (
	FormatU16    = "u16"
	FormatI16    = "i16"
	FormatU32    = "u32"
	FormatI32    = "i32"
	FormatU64    = "u64"
	FormatI64    = "i64"
	FormatF32    = "f32"
	FormatF64    = "f64"
	FormatString = "string" // Count registers of text, two bytes each, NULs and trailing spaces trimmed
)

// Register is where a Modbus point (or method, or identity field) lives and how its registers encode
// the value. It is the driver's gateway.Address.
type Register struct {
	// Table is TableHolding, TableInput, TableCoil or TableDiscrete.
	Table string `json:"table"`
	// Address is the 0-based PDU address of the first register (or bit). With Model it is the offset
	// in the SunSpec model's block instead, counted from the first register after the model's ID and L.
	Address uint16 `json:"address"`
	// Format is one of the Format* constants; empty for coils and discrete inputs (one bit).
	Format string `json:"format,omitempty"`
	// Count is how many registers a FormatString spans.
	Count int `json:"count,omitempty"`
	// WordOrder is "big" (default: most significant register first) or "little".
	WordOrder string `json:"wordOrder,omitempty"`
	// ByteOrder is "big" (default: most significant byte first within a register) or "little".
	ByteOrder string `json:"byteOrder,omitempty"`
	// ScaleFactor, when set, is the address (same table, same Model) of a SunSpec scale factor: a
	// signed 16-bit power of ten applied to the raw value (0x8000 means "not implemented").
	ScaleFactor *uint16 `json:"scaleFactor,omitempty"`
	// Model is a SunSpec model id (1 common, 101 inverter, ...): the driver finds where the device
	// put that model by walking the model list from "SunS". Zero means Address is absolute.
	Model int `json:"model,omitempty"`
}

// Words is how many 16-bit registers the register's format spans (1 for coils and discrete inputs:
// one bit).
func (r *Register) Words() int {
	switch r.Format {
	case FormatU32, FormatI32, FormatF32:
		return 2
	case FormatU64, FormatI64, FormatF64:
		return 4
	case FormatString:
		return r.Count
	}
	return 1
}

// String shows a register the way the docs write it: "holding 40072 f32", "holding model 101 +12 i16
// ×10^[+13]".
func (r *Register) String() string {
	var b strings.Builder
	b.WriteString(r.Table)
	if r.Model != 0 {
		fmt.Fprintf(&b, " model %d +%d", r.Model, r.Address)
	} else {
		fmt.Fprintf(&b, " %d", r.Address)
	}
	if r.Format != "" {
		b.WriteString(" " + r.Format)
	}
	if r.Format == FormatString {
		fmt.Fprintf(&b, "(%d)", r.Count)
	}
	if r.WordOrder == "little" || r.ByteOrder == "little" {
		fmt.Fprintf(&b, " words %s bytes %s", cmp.Or(r.WordOrder, "big"), cmp.Or(r.ByteOrder, "big"))
	}
	if r.ScaleFactor != nil {
		fmt.Fprintf(&b, " ×10^[%+d]", int(*r.ScaleFactor))
	}
	return b.String()
}

// regOf is a point's register; nil for a point of another protocol.
func regOf(p *gateway.Point) *Register {
	r, _ := p.Address.(*Register)
	return r
}
