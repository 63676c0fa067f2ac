#!/usr/bin/python3
"""A Modbus server for edgegw's tests, on Debian's python3-pymodbus (3.0): run it with /usr/bin/python3.

It serves Modbus TCP on --host:--port and, with --rtu DEVICE, Modbus RTU on a serial device too (one end of
a socat pty pair in the tests), both from one register map. Every unit id gets an answer. Addresses are the
0-based addresses of the PDU.

Registers: without --regs, holding register i holds 1000+i and input register i holds 2000+i, i < 100.
With --regs FILE (repeatable) only the registers the files name exist; any other address answers
exception 02 (illegal data address), as a real device does. A .regs file is text: '@hr ADDR' or '@ir ADDR'
chooses the table and the first address, then come 16-bit words in hex, as many per line as you like,
each at the next address; '#' starts a comment. Coils 0-99 alternate 0, 1; discrete inputs 0-99 are 1.

Function 43/14 (read device identification) answers objects 0-2 with --vendor, --product and --revision
and objects 3-5 with a URL, a product name and a model name.
"""
import argparse
import asyncio
import logging
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext,
                                ModbusSparseDataBlock)
from pymodbus.device import ModbusDeviceIdentification
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer


def read_regs(paths):
    """{'hr': {address: word}, 'ir': {...}} from .regs files; exits naming file and line on a mistake."""
    tables = {"hr": {}, "ir": {}}
    for path in paths:
        table = addr = None
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                words = iter(line.partition("#")[0].split())
                for w in words:
                    where = f"{path}:{n}"
                    if w.startswith("@"):
                        table, first = w[1:], next(words, None)
                        if table not in tables or first is None:
                            sys.exit(f"{where}: want '@hr ADDRESS' or '@ir ADDRESS', not {line.strip()!r}")
                        addr = int(first, 0)
                    elif table is None:
                        sys.exit(f"{where}: a word before any '@hr' or '@ir' line")
                    elif len(w) > 4 or any(c not in "0123456789abcdefABCDEF" for c in w):
                        sys.exit(f"{where}: {w!r} is not a 16-bit word in hex")
                    else:
                        tables[table][addr] = int(w, 16)
                        addr += 1
    return tables


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=15020)
    ap.add_argument("--regs", action="append", default=[], metavar="FILE", help="a .regs file (repeatable)")
    ap.add_argument("--vendor", default="ACME", help="object 0, VendorName")
    ap.add_argument("--product", default="DP55", help="object 1, ProductCode")
    ap.add_argument("--revision", default="4.2.1", help="object 2, MajorMinorRevision")
    ap.add_argument("--rtu", metavar="DEVICE", help="also serve Modbus RTU on this serial device")
    ap.add_argument("--baud", type=int, default=19200)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")

    if a.regs:
        t = read_regs(a.regs)
        hr, ir = (ModbusSparseDataBlock(t[k] or None) for k in ("hr", "ir"))
        what = f"{len(t['hr'])} holding and {len(t['ir'])} input registers from {', '.join(a.regs)}"
    else:
        hr = ModbusSequentialDataBlock(0, [1000 + i for i in range(100)])
        ir = ModbusSequentialDataBlock(0, [2000 + i for i in range(100)])
        what = "holding i = 1000+i, input i = 2000+i (i < 100)"
    unit = ModbusSlaveContext(hr=hr, ir=ir, co=ModbusSequentialDataBlock(0, [i % 2 for i in range(100)]),
                              di=ModbusSequentialDataBlock(0, [1] * 100), zero_mode=True)
    context = ModbusServerContext(slaves=unit, single=True)  # single: every unit id is this one
    ident = ModbusDeviceIdentification(info_name={
        "VendorName": a.vendor, "ProductCode": a.product, "MajorMinorRevision": a.revision,
        "VendorUrl": "http://example.invalid", "ProductName": "DisplayPro 55", "ModelName": "DP55-EU"})

    async def serve():
        servers = [StartAsyncTcpServer(context=context, identity=ident, address=(a.host, a.port))]
        if a.rtu:
            servers.append(StartAsyncSerialServer(context=context, identity=ident, framer=ModbusRtuFramer,
                                                  port=a.rtu, baudrate=a.baud))
        print(f"modbus_server: tcp {a.host}:{a.port}" + (f" and rtu {a.rtu} at {a.baud} baud" if a.rtu else "")
              + f"; {what}; identity {a.vendor} {a.product} {a.revision}", flush=True)
        await asyncio.gather(*servers)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
