/** `FileRef`: what `uploadFile()` returns, usable as a command argument (SDK-API.md §1.4). */

const BRAND = "__openreactorFileRef" as const;

export interface WireUploadRef {
  upload_id: string;
  name: string;
  mime_type: string;
  size: number;
}

export class FileRef {
  readonly uploadId: string;
  readonly name: string;
  readonly mimeType: string;
  /** Bytes. */
  readonly size: number;
  /** Recognised across two bundled copies of the SDK, where `instanceof` fails. */
  readonly [BRAND] = true;

  /** @internal Only `uploadFile()` creates FileRefs. */
  constructor(uploadId: string, name: string, mimeType: string, size: number) {
    this.uploadId = uploadId;
    this.name = name;
    this.mimeType = mimeType;
    this.size = size;
    Object.freeze(this);
  }

  toWire(): WireUploadRef {
    return { upload_id: this.uploadId, name: this.name, mime_type: this.mimeType, size: this.size };
  }

  toJSON(): WireUploadRef {
    return this.toWire();
  }
}

export function isFileRef(value: unknown): value is FileRef {
  return value instanceof FileRef || (typeof value === "object" && value !== null && (value as Record<string, unknown>)[BRAND] === true);
}
