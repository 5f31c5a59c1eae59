export const OUT_DIR: string;
export function consoleIsStale(): boolean;
export function buildConsole(opts?: { quiet?: boolean }): Promise<{ js: string; css: string }>;
