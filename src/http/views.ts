import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/**
 * Server-rendered pages. Eta escapes every `<%= %>` interpolation (autoEscape); templates use the raw
 * form `<%~ %>` only for other rendered templates (layout bodies), never for data. Pages carry no inline
 * script or style, so the strict CSP holds.
 *
 * Templates live in `views/` at the package root, found from this module's location (src/http or
 * dist/http), so the same code serves them in development and from a build.
 */
export const viewsDir = fileURLToPath(new URL('../../views/', import.meta.url));

export class PortalViews {
  readonly #eta = new Eta({ views: viewsDir, autoEscape: true, cache: true, autoTrim: false });

  constructor(private readonly common: { productName: string; devMode: boolean }) {}

  render(template: string, data: Record<string, unknown>): string {
    return this.#eta.render(template, { ...this.common, ...data });
  }
}
