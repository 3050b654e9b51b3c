#!/usr/bin/env node
// The `tokensmith` command: the compiled controller where `npm run build` made one, else the
// TypeScript sources (Node.js 24 runs them directly).
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const compiled = new URL('../dist/main.js', import.meta.url);
await import(existsSync(compiled) ? compiled.href : new URL('../src/main.ts', import.meta.url).href);
