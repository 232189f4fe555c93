/** A directory with Node's node_api.h and uv.h, or undefined. */
export function headerDirectory(): string | undefined
/** Compiles one C file into an N-API module; returns why not, or undefined when it did. */
export function compileNative(from: string, to: string): string | undefined
