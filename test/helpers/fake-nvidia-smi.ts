/** The fake-nvidia-smi stand-in (test/fixtures/fake-nvidia-smi/nvidia-smi): put its folder first on PATH. */
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The directory holding the `nvidia-smi` stand-in. */
export const fakeNvidiaSmiDir = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/fake-nvidia-smi");

/** PATH with the stand-in first. */
export function pathWithFakeNvidiaSmi(path = process.env.PATH ?? ""): string {
  return `${fakeNvidiaSmiDir}${delimiter}${path}`;
}
