export const BUILD_STAMP: string;
export function builtEntry(root: URL): URL | undefined;
