// Seed J2 (§2.3.2), as shown (a JSX expression statement).
// --- snippet ---
import { ReactorView } from "@reactor-team/js-sdk";

<ReactorView className="w-full aspect-video" videoObjectFit="cover"/>
// --- end ---
