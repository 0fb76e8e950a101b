import { useEffect, useRef, type CSSProperties, type ReactNode } from "react";

import { useReactorStore } from "./hooks.js";

export type ObjectFit = "contain" | "cover" | "fill" | "none" | "scale-down";

export interface ReactorViewProps {
  track?: string;
  audioTrack?: string;
  muted?: boolean;
  className?: string;
  style?: CSSProperties;
  width?: number;
  height?: number;
  videoObjectFit?: ObjectFit;
}

/** A `<video>` showing an output track (default `main_video`); no status text over it. */
export function ReactorView({
  track = "main_video",
  audioTrack,
  muted,
  className,
  style,
  width,
  height,
  videoObjectFit = "contain",
}: ReactorViewProps): ReactNode {
  const video = useReactorStore((s) => s.tracks[track]);
  const audio = useReactorStore((s) => (audioTrack === undefined ? undefined : s.tracks[audioTrack]));
  const element = useRef<HTMLVideoElement>(null);
  const wantMuted = muted ?? audioTrack === undefined;

  useEffect(() => {
    const el = element.current;
    if (!el) return;
    const tracks = [video, audio].filter((t): t is MediaStreamTrack => t !== undefined);
    if (tracks.length === 0) {
      el.srcObject = null;
      return;
    }
    el.srcObject = new MediaStream(tracks);
    el.muted = wantMuted;
    el.play().catch(() => {
      // Unmuted autoplay refused: keep playing, muted.
      el.muted = true;
      el.play().catch(() => undefined);
    });
  }, [video, audio, wantMuted]);

  return (
    <div className={className} style={{ ...(width !== undefined ? { width } : {}), ...(height !== undefined ? { height } : {}), ...style }}>
      <video
        ref={element}
        autoPlay
        playsInline
        muted={wantMuted}
        style={{ width: "100%", height: "100%", objectFit: videoObjectFit, display: "block" }}
      />
    </div>
  );
}
