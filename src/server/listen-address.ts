/**
 * Where a server bound to a host and port can be reached: the address it is bound to, a URL that
 * works from this machine, and, for a wildcard bind (0.0.0.0, ::), the URLs other machines may use.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";

export interface ListenAddress {
  /** The address bound, as a URL: `http://0.0.0.0:8000` for every IPv4 interface. */
  bound: string;
  /** A URL that reaches the server from this machine: the loopback address for a wildcard bind. */
  local: string;
  /** For a wildcard bind, this machine's other addresses as URLs (link-local ones left out). */
  network: string[];
}

const wildcards: Readonly<Record<string, string>> = { "0.0.0.0": "127.0.0.1", "::": "::1" };

function urlOf(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** `interfaces` defaults to the machine's (os.networkInterfaces()); tests pass their own. */
export function describeListenAddress(
  host: string,
  port: number,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): ListenAddress {
  const loopback = wildcards[host];
  if (loopback === undefined) return { bound: urlOf(host, port), local: urlOf(host, port), network: [] };
  // 0.0.0.0 takes IPv4 connections only; :: takes both families (dual stack, Node's default).
  const network = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal && (host === "::" || i.family === "IPv4"))
    .filter((i) => !(i.family === "IPv6" && i.address.toLowerCase().startsWith("fe80:")))
    .map((i) => urlOf(i.address, port));
  return { bound: urlOf(host, port), local: urlOf(loopback, port), network };
}

/** The start-up line: `listening on http://127.0.0.1:8000`; a wildcard bind adds where to connect. */
export function formatListening(address: ListenAddress): string {
  if (address.bound === address.local) return `listening on ${address.bound}`;
  const shown = address.network.slice(0, 3);
  const more = address.network.length - shown.length;
  const others =
    shown.length === 0
      ? ""
      : `, from other machines ${shown.join(", ")}${more > 0 ? ` (and ${more} more)` : ""}`;
  return `listening on ${address.bound} (every interface: from this machine ${address.local}${others})`;
}
