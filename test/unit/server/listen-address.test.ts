/** The start-up line: the address bound, and where to connect when it is a wildcard. */
import type { NetworkInterfaceInfo } from "node:os";
import { describe, expect, it } from "vitest";
import { describeListenAddress, formatListening } from "../../../src/server/listen-address.js";

const common = { netmask: "", mac: "00:00:00:00:00:00", cidr: null };
const interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = {
  lo: [
    { ...common, address: "127.0.0.1", family: "IPv4", internal: true },
    { ...common, address: "::1", family: "IPv6", internal: true, scopeid: 0 },
  ],
  eth0: [
    { ...common, address: "10.0.0.5", family: "IPv4", internal: false },
    { ...common, address: "fe80::1", family: "IPv6", internal: false, scopeid: 2 },
    { ...common, address: "2001:db8::5", family: "IPv6", internal: false, scopeid: 0 },
  ],
};

describe("the listening line", () => {
  it("is the plain URL for a specific address, the default included", () => {
    for (const host of ["127.0.0.1", "127.0.0.2", "::1", "localhost", "10.0.0.5"]) {
      const address = describeListenAddress(host, 8000, interfaces);
      expect(address.local).toBe(address.bound);
      expect(address.network).toEqual([]);
    }
    expect(formatListening(describeListenAddress("127.0.0.1", 8000, interfaces))).toBe(
      "listening on http://127.0.0.1:8000",
    );
    expect(formatListening(describeListenAddress("::1", 8000, interfaces))).toBe(
      "listening on http://[::1]:8000",
    );
  });

  it("says 0.0.0.0 and where to connect from here and from other machines (IPv4 only)", () => {
    const address = describeListenAddress("0.0.0.0", 8000, interfaces);
    expect(address).toEqual({
      bound: "http://0.0.0.0:8000",
      local: "http://127.0.0.1:8000",
      network: ["http://10.0.0.5:8000"],
    });
    expect(formatListening(address)).toBe(
      "listening on http://0.0.0.0:8000 (every interface: from this machine http://127.0.0.1:8000, from other machines http://10.0.0.5:8000)",
    );
  });

  it("says :: and lists both families but not link-local addresses", () => {
    const address = describeListenAddress("::", 9000, interfaces);
    expect(address.bound).toBe("http://[::]:9000");
    expect(address.local).toBe("http://[::1]:9000");
    expect(address.network).toEqual(["http://10.0.0.5:9000", "http://[2001:db8::5]:9000"]);
  });

  it("shows at most three other addresses", () => {
    const many: NodeJS.Dict<NetworkInterfaceInfo[]> = {
      eth: [1, 2, 3, 4, 5].map((n) => ({
        ...common,
        address: `10.0.0.${n}`,
        family: "IPv4",
        internal: false,
      })),
    };
    const line = formatListening(describeListenAddress("0.0.0.0", 1, many));
    expect(line).toContain("http://10.0.0.3:1 (and 2 more))");
    expect(line).not.toContain("10.0.0.4");
    // No other interface: only the local hint.
    expect(formatListening(describeListenAddress("0.0.0.0", 1, {}))).toBe(
      "listening on http://0.0.0.0:1 (every interface: from this machine http://127.0.0.1:1)",
    );
  });
});
