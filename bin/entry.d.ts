export const BUILD_STAMP: string;
export class LaunchError extends Error {}
export function builtEntry(root: URL): URL | undefined;
export function loadCli(root: URL): Promise<{ main: () => Promise<void> }>;
